// GraphQL over HTTP for queries and mutations, graphql-ws
// (graphql-transport-ws) for the live feed. Both go to this origin's
// /graphql, which the server proxies to the router.
import { createClient, type Client } from 'graphql-ws';

export interface GqlError {
  message: string;
  extensions?: { code?: string; field?: string };
}

// ApiError carries every error of a response; forms show each next to the
// field its extensions.field names.
export class ApiError extends Error {
  constructor(public readonly errors: GqlError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

const tokenKey = 'herald.token';

export function token(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function setToken(t: string | null): void {
  if (t) sessionStorage.setItem(tokenKey, t);
  else sessionStorage.removeItem(tokenKey);
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let resp: Response;
  try {
    resp = await fetch('graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError([{ message: 'Herald cannot be reached; check your connection and try again.' }]);
  }
  let body: { data?: T; errors?: GqlError[] };
  try {
    body = await resp.json();
  } catch {
    throw new ApiError([{ message: `Herald answered ${resp.status} ${resp.statusText}.` }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  if (!resp.ok || body.data == null) throw new ApiError([{ message: `Herald answered ${resp.status}.` }]);
  return body.data;
}

// devToken asks the development stack for a token (POST /dev/token). Only
// the dev stack serves it; elsewhere the answer is 404.
export async function devToken(sub: string): Promise<string> {
  const resp = await fetch('dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub }),
  });
  if (resp.status === 404) {
    throw new ApiError([{ message: 'This server has no development sign-in: use a token from your identity provider.' }]);
  }
  const body = (await resp.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!resp.ok || !body.token) {
    throw new ApiError([{ message: body.error ?? `Sign-in failed (${resp.status}).`, extensions: { field: 'sub' } }]);
  }
  return body.token;
}

export function wsClient(onState: (connected: boolean) => void): Client {
  const url = new URL('graphql', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return createClient({
    url: url.toString(),
    connectionParams: () => ({ Authorization: `Bearer ${token() ?? ''}` }),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    on: {
      connected: () => onState(true),
      closed: () => onState(false),
    },
  });
}
