// The `loupe` command line: the same core services as the desktop window and browser mode.
// Errors go to stderr with a non-zero exit code; `--json` prints exactly one JSON object.

import { LoupeError } from '../../shared/errors';
import { toErrorPayload } from '../api/dispatch';
import { loupeVersion } from '../version';
import { parseCommandArgs, UsageError, type CliIO, type Command } from './command';
import { terminalText } from './terminal';
import { backbonesCommand } from './commands/backbones';
import { exportTrainingCommand, importRunCommand } from './commands/bundle';
import { doctorCommand, similarCommand } from './commands/doctor';
import { evalCommand, labelErrorsCommand, suggestCommand } from './commands/evaluate';
import { exportCommand, predictCommand } from './commands/export';
import { importCommand } from './commands/import';
import { mapCommand } from './commands/map';
import { createCommand, statusCommand } from './commands/project';
import { sampleCommand } from './commands/sample';
import { serveCommand } from './commands/serve';
import { trainCommand } from './commands/train';

export const COMMANDS: Command[] = [
  createCommand,
  statusCommand,
  importCommand,
  sampleCommand,
  trainCommand,
  backbonesCommand,
  evalCommand,
  suggestCommand,
  labelErrorsCommand,
  doctorCommand,
  mapCommand,
  similarCommand,
  exportCommand,
  predictCommand,
  exportTrainingCommand,
  importRunCommand,
  serveCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return [
    `Loupe ${loupeVersion()} — label images, train a classifier, see where it fails, export it.`,
    '',
    'Usage: loupe <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    '  loupe --help | -h                Show this help',
    '  loupe --version | -v             Show the version',
  ].join('\n');
}

function defaultIO(): CliIO {
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  return {
    out: (text) => process.stdout.write(terminalText(text) + '\n'),
    err: (text) => process.stderr.write(terminalText(text) + '\n'),
    json: (value) => process.stdout.write(JSON.stringify(value) + '\n'),
    interrupted,
  };
}

export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.out(help());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.out(loupeVersion());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    io.err(`Unknown command "${first}". Run "loupe --help" for the list.`);
    return 2;
  }
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(`Usage: ${command.usage}\n\n${command.summary}${command.help ? `\n\nOptions:\n${command.help.join('\n')}` : ''}`);
      return 0;
    }
    const { positionals, values } = parseCommandArgs(command, rest);
    return await command.run(positionals, values, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return 2;
    }
    const payload = toErrorPayload(err);
    io.err(`loupe ${command.name}: ${payload.message}${err instanceof LoupeError ? '' : ` (${payload.code})`}`);
    return 1;
  }
}
