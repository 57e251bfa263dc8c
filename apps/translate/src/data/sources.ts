/**
 * The data sources of the app and whether a checkpoint trained on them may be shipped.
 * A checkpoint records the sources it was trained on (`metadata.trainingData`); `isShippable`
 * is the one place that decides.
 */

export type DataSourceName = 'numbers' | 'ding';

export interface DataSource {
  description: string;
  licence: string;
  /** May a model trained on it be committed / published? */
  shippable: boolean;
}

export const DATA_SOURCES: Readonly<Record<DataSourceName, DataSource>> = {
  numbers: {
    description: 'English and German number words generated with n2words 4.0.0',
    licence: 'MIT (n2words); the generated pairs are facts about numbers',
    shippable: true,
  },
  ding: {
    description: 'English–German example sentences of the Ding dictionary (Debian trans-de-en)',
    licence: 'GPL-2.0-or-later',
    shippable: false,
  },
};

/** Whether a model trained on exactly these sources may be shipped (all of them must allow it). */
export function isShippable(sources: readonly DataSourceName[]): boolean {
  return sources.every((s) => DATA_SOURCES[s].shippable);
}
