// A page fills <main> and may return a function that undoes what it set up
// (listeners on the feed), run when another page replaces it.
export type Page = (main: HTMLElement) => Promise<(() => void) | void>;
