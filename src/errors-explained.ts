/**
 * What an API refusal means for the user, and what to do about it: the one place that turns client errors into
 * advice. The client speaks Qarnot; this speaks to the person reading the failed step.
 */
import { Input } from './constants.js'
import {
  QarnotAnswerError,
  QarnotApiError,
  QarnotNetworkError,
  invalidFields,
  paymentRefusal,
  rootError
} from './qarnot/errors.js'
import { errorMessage, redactUrl } from './words.js'

const FIELD_TO_INPUT: Record<string, string> = {
  name: Input.Name,
  'range-length': Input.InstanceRange,
  advancedranges: Input.InstanceRange,
  instancecount: Input.InstanceCount,
  constants: Input.Constants,
  tags: Input.Tags,
  labels: Input.Labels,
  profile: Input.Profile,
  pooluuid: Input.Pool,
  hardwareconstraints: Input.Hardware,
  schedulingtype: Input.Scheduling,
  retrysettings: Input.MaxRetriesPerInstance
}

/** Where the error happened: creating (or finding) the task, or following it once it existed. */
export type ErrorPhase = 'start' | 'follow'

export function explainError(error: unknown, apiUrl: string, phase: ErrorPhase = 'start'): string {
  const root = rootError(error)
  const message = errorMessage(error)
  apiUrl = redactUrl(apiUrl)
  if (root instanceof QarnotApiError && root.status === 404 && phase === 'follow') {
    return `${message}. The task disappeared while it was followed: it was deleted (on Tasq, by another client, or by Qarnot under auto-delete, once it ended).`
  }
  if (root instanceof QarnotApiError && /shortname-uniqueness/i.test(root.apiMessage)) {
    return `${message}. The first create made the task but its answer was lost, and the task could not be found by its shortname since (it may have been deleted already); look for it on Tasq.`
  }
  const payment = phase === 'start' ? paymentRefusal(error) : undefined
  if (payment === 'credits') {
    return `${message}. The Qarnot account has not enough credits to start this task: add credits on Tasq (or ask the account's owner to), then run the step again. The step's inputs are not the cause.`
  }
  if (payment === 'hardware') {
    return `${message}. No hardware Qarnot offers matches the '${Input.Hardware}' constraints: loosen them, or check them on Tasq.`
  }
  if (root instanceof QarnotAnswerError) {
    return `${message}. Check that '${Input.ApiUrl}' (${apiUrl}) is the Qarnot API and not a proxy or web page.`
  }
  if (root instanceof QarnotApiError) {
    switch (root.status) {
      case 401:
        return `${message}. The token was refused: check the '${Input.Token}' input (usually secrets.QARNOT_TOKEN) holds a current API token from Tasq, and that '${Input.ApiUrl}' (${apiUrl}) is the cluster it belongs to.`
      case 403:
        if (/maximum number of tasks/i.test(root.apiMessage)) {
          return `${message}. Completed tasks count against the account's task quota until deleted: delete old tasks on Tasq, or set '${Input.AutoDelete}: true' so Qarnot may remove completed ones.`
        }
        return `${message}. The token has no access to this; check the account and '${Input.Token}'.`
      case 400: {
        const fields = invalidFields(root.apiMessage)
        const inputs = [...new Set(fields.map(f => FIELD_TO_INPUT[f.toLowerCase()]).filter(Boolean))]
        if (inputs.length > 0)
          return `${message}. Check the input${inputs.length > 1 ? 's' : ''} ${inputs.map(i => `'${i}'`).join(', ')}.`
        return message
      }
      case 404:
        return `${message}. Check '${Input.Profile}', '${Input.Pool}' and '${Input.ApiUrl}' (${apiUrl}).`
      default:
        return message
    }
  }
  if (root instanceof QarnotNetworkError) {
    return `${message}. Check '${Input.ApiUrl}' (${apiUrl}) and the runner's network or proxy settings.`
  }
  return message
}
