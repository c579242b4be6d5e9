#!/usr/bin/env node
// Every Node.js version package.json's `engines.node` admits (the range the README names) must
// be one that each installed dependency admits too, and the npm running this must meet
// `engines.npm`: otherwise `npm ci` warns EBADENGINE, or a dependency breaks on a Node the
// README promises. Reads the lock file, which records each package's `engines`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const ours = pkg.engines?.node;
if (!ours || !semver.validRange(ours)) {
  console.error('check-engines: package.json needs a valid engines.node range.');
  process.exit(1);
}

const problems = [];
for (const [where, entry] of Object.entries(lock.packages ?? {})) {
  if (!where || !entry.engines) continue;
  // A build for one platform (sharp's, rolldown's) is an alternative, installed only there.
  if (entry.os || entry.cpu) continue;
  // Old packages write engines as an array; only an object's `node` is a range.
  const theirs = Array.isArray(entry.engines) ? null : entry.engines.node;
  if (typeof theirs !== 'string' || !semver.validRange(theirs)) continue;
  if (!semver.subset(ours, theirs, { includePrerelease: false })) {
    const name = where.replace(/^.*node_modules\//, '');
    problems.push(`${name}@${entry.version} needs Node ${theirs}`);
  }
}
// The README quotes the range itself, so the two cannot drift apart.
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
if (!readme.includes(`Node.js \`${ours}\``)) problems.push(`README.md does not name the range (Node.js \`${ours}\`)`);
if (!semver.satisfies(process.version, ours)) problems.push(`this Node.js (${process.version}) is outside that range`);
const npmVersion = /npm\/(\S+)/.exec(process.env.npm_config_user_agent ?? '')?.[1];
if (npmVersion && pkg.engines.npm && !semver.satisfies(npmVersion, pkg.engines.npm)) {
  problems.push(`npm ${npmVersion} is older than engines.npm ${pkg.engines.npm}`);
}
if (problems.length > 0) {
  console.error(`check-engines: package.json promises Node ${ours}, but:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-engines: every dependency supports Node ${ours}.`);
