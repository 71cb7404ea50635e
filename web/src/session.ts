// The signed-in caller: their token (sessionStorage, so it ends with the
// tab) and their user, fetched with me.
import { gql, setToken, token } from './api';
import { feed } from './feed';

export interface Me {
  id: string;
  name: string;
  email: string;
  phone: string | null;
}

let me: Me | null | undefined; // undefined: not fetched yet

export function signedIn(): boolean {
  return token() != null;
}

export async function currentUser(refresh = false): Promise<Me | null> {
  if (!signedIn()) return null;
  if (me === undefined || refresh) {
    const d = await gql<{ me: Me | null }>('query Me { me { id name email phone } }');
    me = d.me;
  }
  return me;
}

export function signIn(t: string): void {
  setToken(t);
  me = undefined;
  feed.start();
}

export function signOut(): void {
  setToken(null);
  me = undefined;
  feed.close();
}
