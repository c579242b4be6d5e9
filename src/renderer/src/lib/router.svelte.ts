// Hash routes, so a reload (or a bookmark in browser mode) comes back to the same place:
//   #/                      start screen
//   #/p/<path>/<view>       a project and one of its views

export interface Route {
  projectPath: string | null;
  view: string;
}

export function parseRoute(hash: string): Route {
  const m = /^#\/p\/([^/]+)(?:\/([a-z-]+))?/.exec(hash);
  if (!m) return { projectPath: null, view: 'label' };
  try {
    return { projectPath: decodeURIComponent(m[1]), view: m[2] ?? 'label' };
  } catch {
    return { projectPath: null, view: 'label' };
  }
}

export function formatRoute(route: Route): string {
  return route.projectPath ? `#/p/${encodeURIComponent(route.projectPath)}/${route.view}` : '#/';
}

class Router {
  route = $state<Route>(parseRoute(location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.route = parseRoute(location.hash);
    });
  }

  go(route: Route): void {
    const hash = formatRoute(route);
    if (location.hash !== hash) history.pushState(null, '', hash);
    this.route = route;
  }

  replace(route: Route): void {
    history.replaceState(null, '', formatRoute(route));
    this.route = route;
  }
}

export const router = new Router();
