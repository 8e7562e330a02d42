/** The part of s3rver 3.7.1's API the emulator uses (the package ships no types). */
declare module 's3rver' {
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory?: string
    vhostBuckets?: boolean
    resetOnClose?: boolean
    allowMismatchedSignatures?: boolean
  }
  class S3rver {
    constructor(options?: S3rverOptions)
    run(): Promise<{ address: string; port: number }>
    close(): Promise<void>
    /** Its FilesystemStore (atomic-put.ts replaces putObject and putPart). */
    readonly store: import('./atomic-put.js').S3rverFilesystemStore
  }
  export default S3rver
}
