import path from 'node:path';
import { Studio } from '../../api/studio';
import { AppState } from '../../store/app-state';
import { appDataDir } from '../../store/app-paths';
import { startServer } from '../../transport/server';
import { loupeVersion, rendererDir } from '../../version';
import { intOption, type Command } from '../command';

export const serveCommand: Command = {
  name: 'serve',
  usage: 'loupe serve [--port N] [--project DIR] [--host ADDR]',
  summary: 'Run the studio in a browser: serves the UI and API on 127.0.0.1 with an access token.',
  options: {
    port: { type: 'string' },
    project: { type: 'string' },
    host: { type: 'string' },
  },
  async run(_positionals, values, io) {
    const port = intOption(values.port, 'port') ?? 0;
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    const initialProject = values.project ? path.resolve(values.project as string) : null;
    const studio = new Studio({
      appState: new AppState(appDataDir()),
      host: { mode: 'browser', initialProject },
      version: loupeVersion(),
    });
    // Hold the project for the server's whole life: a bad path fails now, not in the browser.
    const holder = studio.createSession(() => {});
    try {
      if (initialProject) {
        const project = studio.acquire(initialProject, holder);
        holder.setProject(project);
        studio.appState.touchRecent(project.root, project.name);
      }
      const server = await startServer({ studio, rendererDir: rendererDir(), port, host });
      if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
        io.err(`Warning: listening on ${host}, not only on this machine. Anyone with the token can use it.`);
      }
      io.out(`Loupe ${loupeVersion()} is running. Open this URL in your browser:`);
      io.out(server.openUrl);
      await io.interrupted;
      await server.close();
    } finally {
      await studio.close();
    }
    return 0;
  },
};
