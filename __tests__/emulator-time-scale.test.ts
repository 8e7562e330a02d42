/** Emulator option `timeScale`: the task's clock runs faster, its commands at real speed; the two agree. */
import { describe, expect, it } from '@jest/globals'
import { call, emulatorsOfThisFile, waitForState } from './helpers/emulator.js'

const start = emulatorsOfThisFile()

describe('timeScale', () => {
  it('shows a command of 0.3 s as an instance of 30 s at 100x, on dates that agree', async () => {
    const emulator = await start({ timeScale: 100 })
    const { uuid } = (
      await call(emulator, 'POST', '/tasks', {
        name: 'scaled',
        profile: 'docker-batch',
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.3' }]
      })
    ).json() as { uuid: string }
    const task = (await waitForState(emulator, uuid, ['Success'])) as {
      completedInstances: { wallTimeSec: number }[]
      creationDate: string
      endDate: string
    }
    const wall = task.completedInstances[0].wallTimeSec
    expect(wall).toBeGreaterThanOrEqual(30)
    expect(wall).toBeLessThan(60)
    const span = (Date.parse(task.endDate) - Date.parse(task.creationDate)) / 1000
    expect(span).toBeGreaterThanOrEqual(wall)
  })

  it('refuses a scale that is not a positive number', async () => {
    await expect(start({ timeScale: 0 })).rejects.toThrow(/timeScale/)
  })
})
