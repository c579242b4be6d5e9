// @ts-check
// `loupe/sql-in-records`: SQL text lives only where data access lives, in the project store
// (src/main/store) and in records modules (one per feature, `services/<folder>/records.ts`, and
// `services/records.ts` for the root service files). Everything else calls their functions, so a
// reader finds every statement that touches a table in one place per feature.
//
// SQL text is a string or template literal that opens with a statement keyword (`SELECT …`,
// `INSERT …`, `BEGIN`), or any literal passed to a database's `.prepare()`, `.exec()` or
// `.pragma()`. Keywords are matched in capitals, as Loupe writes SQL, so `tag === 'SELECT'` in the
// renderer is not a statement.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { globToRegExp } from './glob.js';

/** Where SQL may be written: globs over paths from the repository root. */
export const SQL_HOMES = ['src/main/store/**', 'src/main/services/records.ts', 'src/main/services/**/records.ts'];

// A statement keyword, then more of the statement; these few may also stand alone.
const STATEMENT =
  /^\s*(?:(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|WITH|REPLACE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE|ATTACH|DETACH|REINDEX|EXPLAIN)\s+\S|(?:BEGIN|COMMIT|ROLLBACK|VACUUM|ANALYZE|REINDEX)\s*;?\s*$)/;
const DATABASE_METHODS = new Set(['prepare', 'exec', 'pragma']);

const HOMES = SQL_HOMES.map(globToRegExp);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @param {string} text */
export function isSqlText(text) {
  return STATEMENT.test(text);
}

/** @param {string} file a path from the repository root */
function recordsModuleFor(file) {
  const m = /^src\/main\/services\/([^/]+)\//.exec(file);
  if (m) return `src/main/services/${m[1]}/records.ts`;
  if (file.startsWith('src/main/services/')) return 'src/main/services/records.ts';
  return "the records module of the service it uses (services/<folder>/records.ts)";
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'SQL only in src/main/store and records modules' },
    schema: [
      {
        type: 'object',
        properties: {
          // Files that still hold SQL while it moves into records modules; each entry is a debt.
          pending: { type: 'array', items: { type: 'string' } },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      sql: 'SQL belongs in src/main/store or a records module: move this statement into {{records}} and call a function from there.',
      stale: '{{file}} has no SQL any more: remove it from the `pending` list of loupe/sql-in-records in eslint.config.js.',
    },
  },
  create(context) {
    const file = path.relative(ROOT, context.filename).split(path.sep).join('/');
    if (!file.startsWith('src/')) return {};
    if (HOMES.some((re) => re.test(file))) return {};
    /** @type {string[]} */
    const pending = context.options[0]?.pending ?? [];
    const isPending = pending.includes(file);
    let found = false;
    /** @type {Set<unknown>} */
    const reported = new Set();

    /** @param {any} node */
    function report(node) {
      found = true;
      if (isPending || reported.has(node)) return;
      reported.add(node);
      context.report({ node, messageId: 'sql', data: { records: recordsModuleFor(file) } });
    }

    /** @param {any} node @returns {string | undefined} the text a literal opens with */
    function openingText(node) {
      if (node?.type === 'Literal' && typeof node.value === 'string') return node.value;
      if (node?.type === 'TemplateLiteral') return node.quasis[0].value.cooked ?? '';
      return undefined;
    }

    return {
      /** @param {any} node */
      Literal(node) {
        if (typeof node.value === 'string' && isSqlText(node.value)) report(node);
      },
      /** @param {any} node */
      TemplateLiteral(node) {
        if (node.parent?.type === 'TaggedTemplateExpression') return;
        if (isSqlText(node.quasis[0].value.cooked ?? '')) report(node);
      },
      /** @param {any} node */
      CallExpression(node) {
        const callee = node.callee;
        if (callee.type !== 'MemberExpression' || callee.computed || !DATABASE_METHODS.has(callee.property.name)) return;
        if (callee.object.type === 'Literal' && callee.object.regex) return; // /re/.exec(text)
        if (openingText(node.arguments[0]) !== undefined) report(node.arguments[0]);
      },
      'Program:exit'(node) {
        if (isPending && !found) context.report({ node, messageId: 'stale', data: { file } });
      },
    };
  },
};
