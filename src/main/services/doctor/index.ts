// The data doctor, as front ends (API, CLI) use it.
export { DOCTOR_CHECKS, DOCTOR_SCOPE, dismissDoctorFindings, doctorReport, runDoctor } from './doctor';
