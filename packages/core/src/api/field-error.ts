/** One problem of a resource, at a field: what validation and the metrics checks report. */
export interface FieldError {
  /** Dotted path of the field, e.g. `spec.program`; `""` for the object itself. */
  field: string;
  message: string;
}
