// Herald's web app: hash-routed pages without a framework. Every page is a
// function that fills <main>; route changes move focus to the page heading
// so keyboard and screen-reader users land on the new content.
import './style.css';
import { ApiError } from './api';
import { h } from './dom';
import { feed } from './feed';
import { go } from './route';
import { currentUser, signedIn, signOut } from './session';
import { signInPage } from './pages/signin';
import { registerPage } from './pages/register';
import { preferencesPage } from './pages/preferences';
import { ordersPage } from './pages/orders';
import { feedPage } from './pages/feed';

import type { Page } from './pages/page';

interface Route {
  path: string;
  title: string;
  page: Page;
  // who sees the link: signed out, signed in without a user, or registered
  when: 'out' | 'unregistered' | 'registered';
}

const routes: Route[] = [
  { path: 'signin', title: 'Sign in', page: signInPage, when: 'out' },
  { path: 'register', title: 'Register', page: registerPage, when: 'unregistered' },
  { path: 'orders', title: 'Orders', page: ordersPage, when: 'registered' },
  { path: 'feed', title: 'Live feed', page: feedPage, when: 'registered' },
  { path: 'preferences', title: 'Preferences', page: preferencesPage, when: 'registered' },
];

async function state(): Promise<Route['when']> {
  if (!signedIn()) return 'out';
  try {
    return (await currentUser()) ? 'registered' : 'unregistered';
  } catch (err) {
    // An expired or refused token: sign in again.
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
      signOut();
      return 'out';
    }
    throw err;
  }
}

let cleanup: (() => void) | void;

async function render(): Promise<void> {
  const main = document.getElementById('main')!;
  const nav = document.getElementById('nav')!;
  cleanup?.();
  cleanup = undefined;
  let who: Route['when'];
  try {
    who = await state();
  } catch (err) {
    main.replaceChildren(h('h1', { tabindex: '-1' }, 'Herald is unavailable'), h('p', { role: 'alert' }, String(err instanceof Error ? err.message : err)));
    return;
  }
  const allowed = routes.filter((r) => r.when === who);
  const wanted = location.hash.replace(/^#\/?/, '');
  const route = allowed.find((r) => r.path === wanted) ?? allowed[0];
  if (`#/${route.path}` !== location.hash) {
    history.replaceState(null, '', `#/${route.path}`);
  }
  nav.replaceChildren(
    ...allowed.map((r) => h('li', {}, h('a', { href: `#/${r.path}`, 'aria-current': r === route ? 'page' : undefined }, r.title))),
    ...(who === 'out' ? [] : [h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => { signOut(); go('signin'); } }, 'Sign out'))]),
  );
  document.title = `${route.title} · Herald`;
  main.replaceChildren();
  cleanup = await route.page(main);
  main.querySelector<HTMLElement>('h1')?.focus();
}

function showLive(): void {
  const live = document.getElementById('live')!;
  live.textContent = !signedIn() ? '' : feed.connected ? 'Live updates: connected' : 'Live updates: connecting…';
  live.dataset.connected = String(feed.connected);
}

feed.on(showLive);
if (signedIn()) feed.start();
showLive();
window.addEventListener('hashchange', () => void render());
void render();
