export { normalizeText, truncateText } from './text.js';
export type { TruncateOptions } from './text.js';
export { hashToUnit, splitBy, splitOf } from './split.js';
export type { SplitName, SplitOptions, Splits } from './split.js';
export {
  MAX_NUMBER,
  alignmentAccuracy,
  numberPair,
  numberPairs,
  pieceAlignment,
  splitNumbers,
  tokenAlignment,
} from './data/numbers.js';
export type { AlignmentScore, NumberPair, NumberRangeOptions, Piece, TokenSpan } from './data/numbers.js';
export { cleanPhrase, cleanSubEntry, isSentence, parseDing, parseDingDictionary, phraseKey, splitDing, trainingDictionary } from './data/ding.js';
export type { DictionaryOptions, DictionaryPair, DingParseResult, SentencePair } from './data/ding.js';
export { DING_SYSTEM_FILE, fetchDing } from './data/fetch-ding.js';
export type { DingSource, FetchDingOptions } from './data/fetch-ding.js';
export { DATA_SOURCES, isShippable, licenceOf } from './data/sources.js';
export type { DataSource, DataSourceName } from './data/sources.js';
export {
  BOS,
  BOS_ID,
  BPETokenizer,
  EOS,
  EOS_ID,
  PAD,
  PAD_ID,
  SPACE_MARK,
  SPECIAL_TOKENS,
  UNK,
  UNK_ID,
  padBatch,
} from './tokenizer/bpe.js';
export type { BPEJSON, BPETrainOptions, Batch, EncodeOptions, Encoding } from './tokenizer/bpe.js';
export { bleuFromStats, corpusBleu, formatBleu, tokenize13a } from './metrics/bleu.js';
export type { BLEUOptions, BLEUResult } from './metrics/bleu.js';
export { corpusChrf, formatChrf } from './metrics/chrf.js';
export type { ChrFOptions, ChrFResult } from './metrics/chrf.js';
export { assignWeights, loadCheckpoint, namedWeights, parseCheckpoint, saveCheckpoint, serializeCheckpoint } from './checkpoint.js';
export type { Checkpoint, CheckpointHeader, CheckpointMetadata, Json, SaveCheckpointInput, WeightSource, WeightTarget } from './checkpoint.js';
export { heatmapSpec, htmlReport, renderHeatmapSvg } from './heatmap.js';
export type { HeatmapInput, ReportSection } from './heatmap.js';
