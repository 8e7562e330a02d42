/** Entry of the post step (runs.post): it only ever checks and aborts, and never fails the job. */
import * as core from '@actions/core'
import { post } from './post.js'
import { errorMessage } from './words.js'

post().catch(error => core.warning(`Post: ${errorMessage(error)}`))
