import os from 'node:os';
import path from 'node:path';

/**
 * Where Loupe keeps its own state (recent projects, settings, downloaded backbones).
 * `LOUPE_HOME` overrides it; otherwise it is the folder Electron would use as `userData` for an
 * app named "Loupe", so the desktop window, `loupe serve` and the CLI share one recent list.
 */
export function appDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOUPE_HOME) return path.resolve(env.LOUPE_HOME);
  const home = os.homedir();
  switch (process.platform) {
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'Loupe');
    case 'win32':
      return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Loupe');
    default:
      return path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'Loupe');
  }
}
