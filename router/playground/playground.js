// Starts GraphiQL against this router's /graphql endpoint. Subscriptions go
// over graphql-transport-ws on the same path, opened lazily; the token in
// the editor's Authorization header travels in connection_init (browsers
// cannot set WebSocket headers). The page starts with the headers the
// router offers at defaults.json (the development stack's demo token) and
// with the README's flow: register, create an order, watch its status.
(function () {
  "use strict";
  var endpoint = new URL("/graphql", window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // One WebSocket client per token, so a changed header takes effect on
  // the next subscription.
  var sockets = {};
  function wsClient(auth) {
    if (!sockets[auth]) {
      sockets[auth] = graphqlWs.createClient({
        url: socket.href,
        lazy: true,
        connectionParams: auth ? { Authorization: auth } : {},
      });
    }
    return sockets[auth];
  }
  function fetcher(params, opts) {
    var headers = (opts && opts.headers) || {};
    var auth = headers.Authorization || headers.authorization || "";
    return GraphiQL.createFetcher({ url: endpoint.href, wsClient: wsClient(auth) })(params, opts);
  }

  var flow =
    "# Welcome to Herald. Run the operations in order (the play button\n" +
    "# offers each). The Headers tab holds your token.\n\n" +
    "mutation Register {\n" +
    "  registerUser(input: {name: \"Demo\", email: \"demo@example.com\"}) { id name }\n" +
    "}\n\n" +
    "query Me {\n  me { id name email orders { id status totalMinor } }\n}\n\n" +
    "# Paste your id (from Register or Me) into the variables first.\n" +
    "mutation CreateOrder($userId: ID!) {\n" +
    "  createOrder(input: {userId: $userId, currency: \"EUR\",\n" +
    "    items: [{sku: \"TEA-1\", name: \"Green tea\", quantity: 2, unitPriceMinor: 450}]}) {\n" +
    "    id status totalMinor\n  }\n}\n\n" +
    "# Start this before CreateOrder to see each delivery move live.\n" +
    "subscription WatchStatus {\n" +
    "  notificationStatus { orderId channel status attempt reason time }\n" +
    "}\n";

  function start(defaults) {
    var root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultEditorToolsVisibility: true,
        defaultQuery: flow,
        defaultVariables: "{\n  \"userId\": \"\"\n}\n",
        defaultHeaders: JSON.stringify(defaults.headers || {}, null, 2),
      })
    );
  }
  fetch("/playground/defaults.json")
    .then(function (r) { return r.ok ? r.json() : {}; })
    .catch(function () { return {}; })
    .then(start);
})();
