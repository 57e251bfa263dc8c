declare module 'virtual:attnkit-models' {
  /** URLs of the page's checkpoints; `ding` is null when the sentence model is not there. */
  const models: { numbers: string; ding: string | null };
  export default models;
}
