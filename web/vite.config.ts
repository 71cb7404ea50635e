import { defineConfig } from 'vite';

// The build goes where the Go package embeds it (web/webapp). `make web`
// runs it; `make check-web` fails when the committed copy differs.
export default defineConfig({
  base: './',
  build: {
    outDir: 'webapp/dist',
    emptyOutDir: true,
    // Source maps would make the committed build twice its size for no user.
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` against a running dev stack (make run).
    proxy: {
      '/graphql': { target: 'http://127.0.0.1:8080', ws: true },
      '/dev': 'http://127.0.0.1:8080',
    },
  },
});
