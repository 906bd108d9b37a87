/** This package's version, for `--version` and `serve`'s `ready` notification (tests keep it equal to package.json; the single-file bundle has no package.json to read). */
export const LISTENER_VERSION = '0.1.0';
