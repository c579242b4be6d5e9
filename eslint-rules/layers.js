// @ts-check
// `loupe/layers`: the map of Loupe's layers, and the lint rule that holds every import to it (the
// way VS Code's `code-layering` rule does). Each layer names its files and the layers they may
// import; an import that goes the wrong way, or into another feature folder's insides, fails
// `npm run lint`, so a new circle between folders cannot land unnoticed.
//
// Every import counts: static, `export … from`, dynamic `import()`, `require()` and type-only
// imports alike (a type still couples two folders; the table holds without exemptions for types).
// Modules are named by their path from the repository root without the extension; a folder
// import means its index.ts. A file belongs to the first layer below whose `files` match it.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { globToRegExp } from './glob.js';

/**
 * @typedef {object} Layer
 * @property {string} name what messages call the layer
 * @property {string[]} files globs over module paths (`*` one path segment or part of one, `**` any depth)
 * @property {string[]} [may] the other layers its files may import (a layer may always import itself)
 * @property {string} [entry] for a feature folder: the one module other service folders import it through
 * @property {boolean} [noPackages] when set, its files import no npm package or Node built-in either
 * @property {boolean} [pkg] a package, matched by its import name (electron), not a folder in src/
 */

// Every service folder may use these: the project store, the job runner, the worker spawner, the
// shared contract and the version stamp.
const SERVICE_BASE = ['store', 'jobs', 'workers/spawn', 'shared', 'main/version'];
// Neutral homes: shared parts that say what they are and that every feature may use.
const NEUTRAL = ['services/onnx', 'services/tflite', 'services/pixels', 'services/tfjs', 'services/rng'];
// What the front ends (API handlers, CLI, transport) may call: every service layer.
const ALL_SERVICES = [
  ...NEUTRAL,
  'services/root',
  'services/import',
  'services/backbones',
  'services/training',
  'services/export',
  'services/evaluation',
  'services/inference',
  'services/doctor',
  'services/bundle',
  'services/map',
  'services/features',
];

/** @type {Layer[]} */
export const LAYERS = [
  // ── src/shared: the typed contract all sides speak. Imports nothing outside itself, no packages.
  { name: 'shared', files: ['src/shared/**'], may: [], noPackages: true },

  // ── The two other processes: they reach the core only through the contract.
  { name: 'preload', files: ['src/preload/**'], may: ['shared', 'electron'] },
  { name: 'renderer', files: ['src/renderer/**'], may: ['shared'] },

  // ── src/main, outside in.
  {
    name: 'main/index',
    files: ['src/main/index'],
    may: ['desktop', 'transport', 'api', 'cli', ...ALL_SERVICES, 'store', 'jobs', 'workers/spawn', 'shared', 'main/version', 'electron'],
  },
  { name: 'desktop', files: ['src/main/desktop/**'], may: ['api', 'transport', 'shared', 'main/version', 'electron'] },
  { name: 'cli', files: ['src/main/cli/**'], may: ['api', 'transport', ...ALL_SERVICES, 'store', 'jobs', 'shared', 'main/version'] },
  { name: 'transport', files: ['src/main/transport/**'], may: ['api', ...ALL_SERVICES, 'store', 'jobs', 'shared', 'main/version'] },
  { name: 'api', files: ['src/main/api/**'], may: [...ALL_SERVICES, 'store', 'jobs', 'shared', 'main/version'] },
  // A worker's entry file runs a service in its own thread; spawn.ts only starts threads, so
  // services may use it without a circle.
  { name: 'workers', files: ['src/main/workers/*.worker', 'src/main/workers/tsx-bootstrap'], may: [...ALL_SERVICES, 'shared', 'main/version'] },
  { name: 'workers/spawn', files: ['src/main/workers/spawn'], may: ['shared', 'main/version'] },

  // ── src/main/services. Neutral homes import no other service folder.
  { name: 'services/onnx', files: ['src/main/services/onnx/**'], may: SERVICE_BASE },
  { name: 'services/pixels', files: ['src/main/services/pixels/**'], may: SERVICE_BASE },
  { name: 'services/tfjs', files: ['src/main/services/tfjs/**'], may: SERVICE_BASE },
  // TensorFlow Lite files and their interpreter; it reads a TF.js model through onnx/'s plain-data reader.
  { name: 'services/tflite', files: ['src/main/services/tflite/**'], may: ['services/onnx', ...SERVICE_BASE] },
  { name: 'services/rng', files: ['src/main/services/rng'], may: SERVICE_BASE },
  // Root service files (labeling, history, summary, classes, splits, sample, records).
  { name: 'services/root', files: ['src/main/services/*'], may: [...NEUTRAL, ...SERVICE_BASE] },
  // Feature folders, bottom up. Another service folder imports a feature only through its index.ts.
  {
    name: 'services/import',
    files: ['src/main/services/import/**'],
    entry: 'src/main/services/import/index',
    may: ['services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/backbones',
    files: ['src/main/services/backbones/**'],
    entry: 'src/main/services/backbones/index',
    may: ['services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/training',
    files: ['src/main/services/training/**'],
    entry: 'src/main/services/training/index',
    may: ['services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/export',
    files: ['src/main/services/export/**'],
    entry: 'src/main/services/export/index',
    may: ['services/training', 'services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/evaluation',
    files: ['src/main/services/evaluation/**'],
    may: ['services/training', 'services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    // Backbone features compared: standardising, the MatMul search, "more like this".
    name: 'services/features',
    files: ['src/main/services/features/**'],
    may: ['services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/doctor',
    files: ['src/main/services/doctor/**'],
    may: ['services/evaluation', 'services/training', 'services/features', 'services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/bundle',
    files: ['src/main/services/bundle/**'],
    entry: 'src/main/services/bundle/index',
    may: ['services/training', 'services/export', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/map',
    files: ['src/main/services/map/**'],
    may: ['services/backbones', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },
  {
    name: 'services/inference',
    files: ['src/main/services/inference/**'],
    may: ['services/export', 'services/import', 'services/root', ...NEUTRAL, ...SERVICE_BASE],
  },

  // ── Below everything in src/main: the project store, the job runner, the version stamp.
  { name: 'store', files: ['src/main/store/**'], may: ['shared'] },
  { name: 'jobs', files: ['src/main/jobs/**'], may: ['shared'] },
  { name: 'main/version', files: ['src/main/version'], may: [] },

  // ── Packages that are a layer of their own: only the desktop shell and preload touch electron.
  { name: 'electron', files: ['electron', 'electron/**'], pkg: true },
];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RULE_FILE = 'eslint-rules/layers.js';

const COMPILED = LAYERS.map((layer) => ({ layer, patterns: layer.files.map(globToRegExp) }));
const BY_NAME = new Map(LAYERS.map((l) => [l.name, l]));
for (const layer of LAYERS) {
  for (const other of layer.may ?? []) if (!BY_NAME.has(other)) throw new Error(`${RULE_FILE}: ${layer.name} names an unknown layer ${other}`);
}

/**
 * The layer that holds a module (a repo path without extension, or a package name).
 * @param {string} id
 * @param {boolean} pkg
 */
export function layerOf(id, pkg = false) {
  return COMPILED.find(({ layer, patterns }) => !!layer.pkg === pkg && patterns.some((p) => p.test(id)))?.layer;
}

/** @param {string} file an absolute path */
function moduleId(file) {
  return path.relative(ROOT, file).split(path.sep).join('/').replace(/\.(?:ts|tsx|mts|cts|js|mjs|cjs|svelte|json)$/, '');
}

/**
 * The module a relative specifier names: a folder means its index.
 * @param {string} fromFile
 * @param {string} spec
 */
function resolveRelative(fromFile, spec) {
  const abs = path.resolve(path.dirname(fromFile), spec.replace(/[?#].*$/, '')); // a bundler's `?url` is not part of the path
  let isDir = false;
  try {
    isDir = fs.statSync(abs).isDirectory();
  } catch {
    // Not on disk as written (no extension, or a file that does not exist yet): a module path.
  }
  return moduleId(isDir ? path.join(abs, 'index') : abs);
}

/** @param {string} spec */
function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** @param {string} spec e.g. '../training/index' shown as the folder import a reader should write instead */
function folderSpec(spec) {
  return spec.replace(/\/[^/]+$/, '');
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'Imports follow the layer map in eslint-rules/layers.js' },
    schema: [],
    messages: {
      layer: "{{from}} may not import {{to}}: '{{spec}}'. {{from}} may import {{allowed}} (the map is in " + RULE_FILE + ').',
      entry:
        "{{from}} may import {{to}} only through its index.ts: '{{spec}}' → '{{folder}}' (add the name to {{entry}}.ts if it is missing).",
      packages: "{{from}} imports no package: '{{spec}}' ({{from}} depends on nothing outside itself).",
      unplaced: '{{file}} is in no layer; add its folder to LAYERS in ' + RULE_FILE + ', with what it may import.',
      unplacedTarget: "{{from}} imports '{{spec}}', which is in no layer; add its folder to LAYERS in " + RULE_FILE + '.',
    },
  },
  create(context) {
    const fromId = moduleId(context.filename);
    if (!fromId.startsWith('src/')) return {};
    const from = layerOf(fromId);
    if (!from) {
      return {
        Program(node) {
          context.report({ node, messageId: 'unplaced', data: { file: path.relative(ROOT, context.filename) } });
        },
      };
    }

    /**
     * @param {import('estree').Node} node
     * @param {string} spec
     */
    function check(node, spec) {
      const relative = spec.startsWith('.') || spec.startsWith('/');
      if (!relative && from?.noPackages) {
        context.report({ node, messageId: 'packages', data: { from: from.name, spec } });
        return;
      }
      const targetId = relative ? resolveRelative(context.filename, spec) : packageName(spec);
      const to = layerOf(targetId, !relative);
      if (!to) {
        if (relative) context.report({ node, messageId: 'unplacedTarget', data: { from: from?.name, spec } });
        return; // a package with no layer of its own: any layer that may use packages may use it
      }
      if (!from || to === from) return;
      if (!(from.may ?? []).includes(to.name)) {
        const allowed = (from.may ?? []).length ? (from.may ?? []).join(', ') : 'nothing outside itself';
        context.report({ node, messageId: 'layer', data: { from: from.name, to: to.name, spec, allowed } });
        return;
      }
      // Between service folders, a feature is reached only through its index.ts.
      if (to.entry && from.name.startsWith('services/') && targetId !== to.entry) {
        context.report({ node, messageId: 'entry', data: { from: from.name, to: to.name, spec, folder: folderSpec(spec), entry: to.entry } });
      }
    }

    /**
     * A string the import names, when it is written out (a template without expressions counts).
     * @param {any} node
     * @returns {string | undefined}
     */
    function literal(node) {
      if (!node) return undefined;
      if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
      if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked ?? undefined;
      if (node.type === 'TSLiteralType') return literal(node.literal);
      return undefined;
    }

    /** @param {any} node @param {any} source */
    function checkSource(node, source) {
      const spec = literal(source);
      if (spec !== undefined) check(node, spec);
    }

    return {
      ImportDeclaration: (node) => checkSource(node, node.source),
      ExportNamedDeclaration: (node) => checkSource(node, node.source),
      ExportAllDeclaration: (node) => checkSource(node, node.source),
      ImportExpression: (node) => checkSource(node, node.source),
      /** @param {any} node */
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') checkSource(node, node.arguments[0]);
      },
      // TypeScript's own forms: `typeof import('…')` and `import x = require('…')`.
      /** @param {any} node */
      TSImportType(node) {
        checkSource(node, node.source ?? node.argument ?? node.parameter);
      },
      /** @param {any} node */
      TSExternalModuleReference(node) {
        checkSource(node, node.expression);
      },
    };
  },
};
