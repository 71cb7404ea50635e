// go moves to a page; the same page again re-renders it (after sign-in or
// registration the links change).
export function go(path: string): void {
  if (location.hash === `#/${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = `#/${path}`;
}
