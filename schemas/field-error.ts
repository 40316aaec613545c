/** One thing wrong with an input: where (a field path such as `items.2.sku`, or `properties.seats`) and what. */
export interface FieldError {
  path: string;
  message: string;
}
