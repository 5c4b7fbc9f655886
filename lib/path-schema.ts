import { z } from 'zod'

/** What a path option with a NUL byte is told. */
export const NUL_MESSAGE = 'must not contain a NUL byte (\\u0000): no file name or command argument can hold one'

/**
 * A configuration option naming a file, a directory or a command (or an
 * argument given to one): a non-empty string without NUL. NUL ends a C
 * string, so the system cannot take such a name, and Node refuses it
 * ("must be … without null bytes") only when the file is opened, long
 * after the configuration was found valid.
 */
export function pathSchema(): z.ZodString {
  return z
    .string()
    .min(1)
    .regex(/^[^\0]*$/, { error: NUL_MESSAGE })
}
