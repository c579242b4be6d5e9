// The server side of the contract: one object implementing every method for a session.
// Each capability contributes its handlers; `satisfies` makes a missing method a type error.

import type { LoupeApi } from '../../shared/api';
import { backboneHandlers } from './backbone-handlers';
import { doctorHandlers } from './doctor-handlers';
import { evalHandlers } from './eval-handlers';
import { exportHandlers } from './export-handlers';
import { importHandlers } from './import-handlers';
import { jobHandlers } from './job-handlers';
import { labelHandlers } from './label-handlers';
import { mapHandlers } from './map-handlers';
import { projectHandlers } from './project-handlers';
import { trainHandlers } from './train-handlers';
import type { Session } from './studio';

export function createApi(session: Session): LoupeApi {
  return {
    ...projectHandlers(session),
    ...jobHandlers(session),
    ...labelHandlers(session),
    ...importHandlers(session),
    ...trainHandlers(session),
    ...backboneHandlers(session),
    ...evalHandlers(session),
    ...exportHandlers(session),
    ...doctorHandlers(session),
    ...mapHandlers(session),
  } satisfies LoupeApi;
}
