// @ts-check
// Loupe's local ESLint plugin (`loupe/…` in eslint.config.js): the rules that hold the architecture.

import layers from './layers.js';
import sqlInRecords from './sql-in-records.js';

export default {
  meta: { name: 'eslint-plugin-loupe' },
  rules: { layers, 'sql-in-records': sqlInRecords },
};
