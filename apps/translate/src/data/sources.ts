/**
 * The data sources of the app, their licences and whether a checkpoint trained on them may be
 * committed with the app. A checkpoint records the sources it was trained on
 * (`metadata.trainingData`); `isShippable` and `licenceOf` are the one place that decides.
 */

export type DataSourceName = 'numbers' | 'ding';

export interface DataSource {
  description: string;
  /** SPDX expression of the licence a model trained on it (and the data itself) is under. */
  licence: string;
  /** Notes on the licence. */
  licenceNote: string;
  /** May a model trained on it be committed with the (private, never published) app? */
  shippable: boolean;
}

export const DATA_SOURCES: Readonly<Record<DataSourceName, DataSource>> = {
  numbers: {
    description: 'English and German number words generated with n2words 4.0.0',
    licence: 'MIT',
    licenceNote: 'MIT (n2words); the generated pairs are facts about numbers',
    shippable: true,
  },
  ding: {
    description: 'English–German example sentences and word/phrase pairs of the Ding dictionary (Debian trans-de-en)',
    licence: 'GPL-2.0-or-later',
    licenceNote:
      'GPL-2.0-or-later: a model trained on it (and its test split) is committed only in its own folder, checkpoints/ding/, beside the GPL-2 text (LICENSE); the app is private and never published',
    shippable: true,
  },
};

/** Whether a model trained on exactly these sources may be committed (all of them must allow it). */
export function isShippable(sources: readonly DataSourceName[]): boolean {
  return sources.every((s) => DATA_SOURCES[s].shippable);
}

/** The licence of a model trained on these sources: GPL-2.0-or-later as soon as Ding data is among them, else MIT. */
export function licenceOf(sources: readonly DataSourceName[]): string {
  return sources.includes('ding') ? DATA_SOURCES.ding.licence : DATA_SOURCES.numbers.licence;
}
