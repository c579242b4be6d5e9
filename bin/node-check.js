// The Node.js versions Loupe runs on (package.json's engines.node, which every dependency
// supports): checked before anything loads a native module built for another Node.
import { readFileSync } from 'node:fs';

export function requireSupportedNode(tool) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 13)) return;
  const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stderr.write(
    `${tool}: Loupe needs Node.js ${engines.node}; this is ${process.version}. ` +
      'In the Loupe folder, `. scripts/node-from-npm.sh` puts Node.js 22 on PATH.\n',
  );
  process.exit(1);
}
