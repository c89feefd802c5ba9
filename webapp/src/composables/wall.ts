// Wall mode (数据大屏): the view fills the screen, fonts grow, the header hides.
// A TV in the office opens the view with ?wall=1 and stays in wall mode
// without anyone pressing a button.
import { onBeforeUnmount, ref } from 'vue'

export function useWallMode() {
  const on = ref(new URLSearchParams(window.location.search).get('wall') === '1')
  document.documentElement.classList.toggle('wall', on.value)
  function sync() {
    on.value = document.fullscreenElement !== null
    document.documentElement.classList.toggle('wall', on.value)
  }
  async function toggle() {
    if (document.fullscreenElement) {
      await document.exitFullscreen().catch(() => {})
    } else {
      // Without the Fullscreen API (or refused), the class alone still enlarges.
      await document.documentElement.requestFullscreen?.().catch(() => {})
      if (!document.fullscreenElement) {
        on.value = !on.value
        document.documentElement.classList.toggle('wall', on.value)
        return
      }
    }
    sync()
  }
  document.addEventListener('fullscreenchange', sync)
  onBeforeUnmount(() => {
    document.removeEventListener('fullscreenchange', sync)
    document.documentElement.classList.remove('wall')
  })
  return { on, toggle }
}
