// The Twofold Playground: GraphiQL on /graphql with this browser's session
// cookie. The login and verifyFactor mutations set the cookie (HttpOnly,
// same origin), so logging in happens inside the Playground; the API decides
// what the session may do, introspection included (admins, or everyone in
// dev mode).
(function () {
  'use strict';

  const h = React.createElement;
  const status = document.getElementById('schema-status');
  const hint = document.getElementById('hint');
  // GraphiQL's introspect function, handed out by SchemaBridge.
  let introspect = null;

  const defaultQuery = `# Twofold Playground: every request goes to this server's /graphql with
# this browser's session cookie; the API decides what you may do.
#
# 1. Log in: put your password in Login and run it (the ▶ button runs the
#    operation under the cursor, or press Ctrl-Enter). The answer sets the
#    session cookie for this page.
# 2. If the status is MFA_REQUIRED, copy the ticket and a factor's id into
#    Verify with the code from your authenticator app, and run Verify.
# 3. Once AUTHENTICATED, the schema reloads (the Docs button lists every
#    field an admin may use), and admin queries such as Users work.

mutation Login {
  login(input: {organization: "demo", username: "admin", password: "PASSWORD"}) {
    status
    ticket
    factors { id factorType label }
    user { username permissions }
  }
}

mutation Verify {
  verifyFactor(input: {ticket: "TICKET", enrollmentId: "FACTOR_ID", response: {code: "123456"}}) {
    status
    user { username permissions }
  }
}

query Users {
  users(first: 20) {
    totalCount
    edges { node { id username email status } }
  }
}

mutation Logout {
  logout { ok }
}
`;

  function setSchemaState(state, text) {
    document.body.dataset.schema = state;
    status.textContent = text;
    hint.hidden = state !== 'refused';
  }

  const http = GraphiQL.createFetcher({
    url: new URL('/graphql', window.location.href).href,
    // The server answers plain JSON (no @defer multipart).
    enableIncrementalDelivery: false,
    // Same origin only: the session cookie goes with the request, and the
    // server's CSRF rule accepts its own origin.
    fetch: (input, init) => window.fetch(input, Object.assign({}, init, { credentials: 'same-origin' })),
  });

  // authenticated reports whether a response completed a login (login,
  // verifyFactor, a passkey sign-in or an enrolment at login).
  function authenticated(result) {
    const data = result && result.data;
    if (!data || typeof data !== 'object') return false;
    return Object.values(data).some((v) => v && typeof v === 'object' && v.status === 'AUTHENTICATED');
  }

  function fetcher(params, opts) {
    const introspection = params.operationName === 'IntrospectionQuery';
    return Promise.resolve(http(params, opts)).then((result) => {
      if (introspection) {
        if (result && result.data && result.data.__schema) {
          setSchemaState('loaded', 'Schema loaded');
          return result;
        }
        setSchemaState('refused', 'Schema not loaded');
        // GraphiQL shows this in the response pane.
        return {
          data: null,
          errors: [{ message: 'Log in with the login mutation, then reload the schema.' }].concat((result && result.errors) || []),
        };
      }
      if (authenticated(result) && introspect) {
        setSchemaState('loading', 'Loading the schema…');
        introspect();
      }
      return result;
    });
  }

  // SchemaBridge renders nothing; it lends GraphiQL's introspect function to
  // the reload button and the fetcher.
  function SchemaBridge() {
    const schema = GraphiQL.React.useSchemaContext({ nonNull: true });
    introspect = schema.introspect;
    return null;
  }

  document.getElementById('reload-schema').addEventListener('click', () => {
    if (introspect) {
      setSchemaState('loading', 'Loading the schema…');
      introspect();
    }
  });

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    h(GraphiQL, {
      fetcher,
      defaultQuery,
      toolbar: { additionalComponent: SchemaBridge },
      shouldPersistHeaders: false,
    }),
  );
})();
