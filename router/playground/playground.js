// Starts GraphiQL against this router's /graphql endpoint. Subscriptions go
// over graphql-transport-ws on the same path; the WebSocket is opened lazily,
// on the first subscription only.
(function () {
  "use strict";
  var endpoint = new URL("/graphql", window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    wsClient: graphqlWs.createClient({ url: socket.href, lazy: true }),
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery:
        "# Welcome to Herald.\n" +
        "query Order($id: ID!) {\n" +
        "  order(id: $id) {\n" +
        "    id\n    totalMinor\n    currency\n    status\n" +
        "    user { id name email }\n" +
        "  }\n" +
        "}\n",
    })
  );
})();
