import { attnkitVitestConfig } from '../../vitest.shared.mjs';

export default attnkitVitestConfig();
