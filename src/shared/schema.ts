// A very small runtime schema for API parameters. The API contract declares each method's
// parameters once with these builders; TypeScript types are inferred from them and every
// transport (IPC, WebSocket, CLI) validates incoming parameters with the same object.
// src/shared imports nothing, so this stays deliberately tiny.

export class SchemaError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
  ) {
    super(`${path || 'params'}: expected ${expected}`);
  }
}

export interface Schema<T> {
  readonly kind: string;
  readonly optional?: boolean;
  parse(value: unknown, path?: string): T;
}

/** What a number schema accepts: forms (min/max/step) and the CLI (parsing, help) read it. */
export interface NumberLimits {
  readonly int: boolean;
  readonly min: number;
  readonly max: number;
}

export type NumberSchema = Schema<number> & { readonly limits: NumberLimits };

/** A number input's min, max and step for a schema's limits: whole steps for integers. */
export function inputLimits({ int, min, max }: NumberLimits): { min: number; max: number; step: number | 'any' } {
  return { min, max, step: int ? 1 : 'any' };
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const make = <T>(kind: string, parse: (value: unknown, path: string) => T): Schema<T> => ({
  kind,
  parse: (value, path = '') => parse(value, path),
});

interface StringOptions {
  min?: number;
  max?: number;
  pattern?: RegExp;
}

interface NumberOptions {
  int?: boolean;
  min?: number;
  max?: number;
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends { optional: true } ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Infer<S[K]>;
};
type Simplify<T> = { [K in keyof T]: T[K] } & {};

export const s = {
  string(options: StringOptions = {}): Schema<string> {
    const { min = 0, max = 4096, pattern } = options;
    return make('string', (v, path) => {
      if (typeof v !== 'string') throw new SchemaError(path, 'a string');
      if (v.length < min || v.length > max) {
        throw new SchemaError(path, `a string of ${min} to ${max} characters`);
      }
      if (pattern && !pattern.test(v)) throw new SchemaError(path, `a string matching ${pattern}`);
      return v;
    });
  },

  number(options: NumberOptions = {}): NumberSchema {
    const { int = false, min = -Infinity, max = Infinity } = options;
    const schema = make('number', (v, path) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new SchemaError(path, 'a number');
      if (int && !Number.isInteger(v)) throw new SchemaError(path, 'an integer');
      if (v < min || v > max) throw new SchemaError(path, `a number from ${min} to ${max}`);
      return v;
    });
    return { ...schema, limits: { int, min, max } };
  },

  boolean(): Schema<boolean> {
    return make('boolean', (v, path) => {
      if (typeof v !== 'boolean') throw new SchemaError(path, 'true or false');
      return v;
    });
  },

  literal<const T extends readonly (string | number | boolean | null)[]>(
    ...values: T
  ): Schema<T[number]> {
    return make('literal', (v, path) => {
      if (!values.includes(v as T[number])) {
        throw new SchemaError(path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
      }
      return v as T[number];
    });
  },

  array<T>(item: Schema<T>, options: { min?: number; max?: number } = {}): Schema<T[]> {
    const { min = 0, max = 1_000_000 } = options;
    return make('array', (v, path) => {
      if (!Array.isArray(v)) throw new SchemaError(path, 'an array');
      if (v.length < min) throw new SchemaError(path, `at least ${min} item${min === 1 ? '' : 's'}`);
      if (v.length > max) throw new SchemaError(path, `at most ${max} items`);
      return v.map((x, i) => item.parse(x, `${path}[${i}]`));
    });
  },

  object<S extends Shape>(shape: S): Schema<Simplify<ObjectOf<S>>> & { readonly shape: S } {
    const schema = make('object', (v, path) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        throw new SchemaError(path, 'an object');
      }
      const input = v as Record<string, unknown>;
      for (const key of Object.keys(input)) {
        if (!Object.hasOwn(shape, key)) throw new SchemaError(join(path, key), 'no such field');
      }
      const out: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(shape)) {
        const value = input[key];
        if (value === undefined) {
          if (schema.optional) continue;
          throw new SchemaError(join(path, key), `a value (${schema.kind})`);
        }
        out[key] = schema.parse(value, join(path, key));
      }
      return out as Simplify<ObjectOf<S>>;
    });
    return { ...schema, shape };
  },

  // The wrappers keep what the inner schema exposes (limits, shape), so a form or the CLI can
  // reach `trainOverrides.shape.epochs.limits` through them.
  optional<S extends Schema<unknown>>(inner: S): Omit<S, 'parse' | 'optional'> & Schema<Infer<S> | undefined> & { optional: true } {
    return {
      ...inner,
      optional: true,
      parse: (v: unknown, path = '') => (v === undefined ? undefined : (inner.parse(v, path) as Infer<S>)),
    };
  },

  nullable<S extends Schema<unknown>>(inner: S): Omit<S, 'parse'> & Schema<Infer<S> | null> {
    return { ...inner, parse: (v: unknown, path = '') => (v === null ? null : (inner.parse(v, path) as Infer<S>)) };
  },
};

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
