/** This package's version (a test checks it against package.json; the single-file bundle has no package.json to read). */
export const LISTENER_VERSION = '0.1.0';
