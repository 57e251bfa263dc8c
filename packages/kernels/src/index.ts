export { registerFusedAttention, unregisterFusedAttention } from './register.js';
