// The desktop window's security settings, as data. The shell applies them; tests read them.
// No electron import here, so the policy is checkable without launching Electron.

export const APP_SCHEME = 'loupe';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

/** BrowserWindow webPreferences: isolated, sandboxed, no Node, nothing experimental. */
export function webPreferences(preload: string) {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  } as const;
}

/** Where the renderer may be loaded from: our protocol, or the dev server while developing. */
export function isTrustedRendererUrl(url: string, devServerUrl?: string): boolean {
  if (url.startsWith(`${APP_ORIGIN}/`)) return true;
  if (devServerUrl) {
    try {
      return new URL(url).origin === new URL(devServerUrl).origin;
    } catch {
      return false;
    }
  }
  return false;
}

/** Every permission (camera, notifications, clipboard-read, …) is denied. */
export const allowPermission = (_permission: string): boolean => false;

/** Links to the web open in the user's browser; nothing else opens anywhere. */
export function externalUrlToOpen(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}
