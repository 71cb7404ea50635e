// Package deploy holds Herald's deployment files beside compose.yaml: the
// PostgreSQL init script compose mounts and the Kubernetes manifests in
// kubernetes/. It has no code of its own; its tests load compose.yaml with
// the compose-spec loader and the manifests with the Kubernetes API types,
// and check every container against the binary it runs (the binary's
// --help lists what it reads, --check-config validates an environment).
package deploy
