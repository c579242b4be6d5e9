// What a schema enforces is also what it shows: a form's min/max and the CLI's ranges read the
// limits through optional and nullable wrappers, and the wrappers still parse as before.

import { describe, expect, it } from 'vitest';
import { inputLimits, s, SchemaError } from '../../src/shared/schema';

describe('schema limits', () => {
  const settings = s.object({
    patience: s.optional(s.nullable(s.number({ int: true, min: 1, max: 1000 }))),
    schedule: s.optional(s.object({ gamma: s.optional(s.number({ min: 0, max: 1 })) })),
  });

  it('shows number limits and object shapes through optional and nullable', () => {
    expect(settings.shape.patience.limits).toEqual({ int: true, min: 1, max: 1000 });
    expect(settings.shape.schedule.shape.gamma.limits).toEqual({ int: false, min: 0, max: 1 });
    expect(inputLimits(settings.shape.patience.limits)).toEqual({ min: 1, max: 1000, step: 1 });
    expect(inputLimits(settings.shape.schedule.shape.gamma.limits)).toEqual({ min: 0, max: 1, step: 'any' });
  });

  it('still parses as the limits say', () => {
    expect(settings.parse({ patience: null, schedule: { gamma: 0.5 } })).toEqual({ patience: null, schedule: { gamma: 0.5 } });
    expect(settings.parse({})).toEqual({});
    expect(() => settings.parse({ patience: 0 })).toThrow(new SchemaError('patience', 'a number from 1 to 1000'));
    expect(() => settings.parse({ schedule: { gamma: 2 } })).toThrow(SchemaError);
    expect(() => settings.parse({ schedule: null })).toThrow(new SchemaError('schedule', 'an object'));
  });
});
