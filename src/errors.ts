/**
 * Typed errors for user mistakes. Each names where the problem is (a file, a field, an option) and what was expected,
 * so the CLI can print one clear line instead of a stack trace.
 */
export class SoftpromptError extends Error {
  constructor(
    message: string,
    /** The file, field or option the problem is in. */
    readonly where?: string,
  ) {
    // One line, always: a message quoting the user's data (a CSV field, a JSON fragment) escapes its line breaks.
    super((where ? `${where}: ${message}` : message).replace(/\r/g, '\\r').replace(/\n/g, '\\n'));
    this.name = new.target.name;
  }
}

/** A file that exists but does not hold what its format promises (safetensors header, JSON, ...). */
export class FormatError extends SoftpromptError {}

/** A file or tensor that should be there and is not. */
export class MissingError extends SoftpromptError {}

/** A config, adapter or tensor whose shape or values do not fit the model. */
export class ShapeError extends SoftpromptError {}

/** An architecture, dtype or feature softprompt does not support. */
export class UnsupportedError extends SoftpromptError {}

/** An option outside its allowed range. */
export class OptionError extends SoftpromptError {}

/** The Hugging Face hub refused or failed a request, or (offline) the cache lacks files; names the repo and file. */
export class HubError extends SoftpromptError {
  constructor(
    message: string,
    where?: string,
    /** The HTTP status; 0 when the hub could not be reached; absent for cache-only failures. */
    readonly status?: number,
  ) {
    super(message, where);
  }
}

/** Training produced a non-finite loss, gradient or parameter; names the step and the last good checkpoint. */
export class DivergenceError extends SoftpromptError {}

/**
 * A file-system operation failed (full disk, read-only, no permission, a file where a directory should be, ...);
 * names the path and the errno code.
 */
export class FileSystemError extends SoftpromptError {
  constructor(
    message: string,
    where: string,
    readonly code?: string,
  ) {
    super(message, where);
  }
}
