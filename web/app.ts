// The dashboard (P-5, S-5): placeholder until the pages land.
import { LiveClient } from '../src/live/client.js'

const app = document.getElementById('app') as HTMLElement
const client = new LiveClient({
  base: '',
  onUpdate: copy => { app.textContent = `${copy.joblists.size} joblists, ${copy.nodes.length} nodes` }
})
void client.run()
