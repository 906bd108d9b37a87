/** The launcher's version, reported in every response. A test keeps it equal to package.json. */
export const LAUNCHER_VERSION = '0.1.0';
