/** The action's name and version as sent in the User-Agent; a test keeps it equal to package.json. */
export const ACTION_NAME = 'qarnot-action'
export const ACTION_VERSION = '0.1.0'
export const USER_AGENT = `${ACTION_NAME}/${ACTION_VERSION}`
