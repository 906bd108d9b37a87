/**
 * `@gateway-launchers/common`: what the launcher and the listener share.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './json-object.js';
export * from './line-reader.js';
export * from './limits.js';
export * from './kernel-id.js';
export * from './port-range.js';
export * from './address.js';
export * from './base64.js';
export * from './connection-info.js';
export * from './response-message.js';
export * from './control-message.js';
export * from './envelope-v2.js';
export * from './envelope-v1.js';
export * from './wire.js';
export * from './logging.js';
export * from './log-levels.js';
export * from './box-key.js';
export * from './prohibited-ips.js';
export * from './local-address.js';
export * from './connection-slots.js';
