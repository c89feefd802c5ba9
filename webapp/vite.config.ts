/// <reference types="vitest/config" />
import { defineConfig, type Plugin, type ProxyOptions } from 'vite'
import vue from '@vitejs/plugin-vue'

// Where `npm run dev` forwards API calls (GraphQL over HTTP and WebSocket,
// webhooks). The built SPA is served by the Go binary itself, same origin.
const api = process.env.TOWER_API ?? 'http://127.0.0.1:8080'

// The API checks the WebSocket Origin against its own host (it is same-origin
// in production), so the dev proxy rewrites it to the API's origin.
function apiProxy(): Record<string, ProxyOptions> {
  return {
    '/graphql': { target: api, ws: true, changeOrigin: true, rewriteWsOrigin: true },
    '/webhooks': { target: api, changeOrigin: true },
  }
}

// The build empties dist/, but dist/.keep is committed so that
// `//go:embed all:dist` compiles before the SPA has been built: emit it again.
function keepFile(): Plugin {
  return {
    name: 'tower-dist-keep',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: '.keep', source: '' })
    },
  }
}

export default defineConfig({
  plugins: [vue(), keepFile()],
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
    rolldownOptions: {
      output: {
        // Big, rarely-changing libraries in their own long-cached chunks.
        codeSplitting: {
          groups: [
            { name: 'echarts', test: /node_modules[\\/](echarts|zrender)[\\/]/ },
            { name: 'naive-ui', test: /node_modules[\\/](naive-ui|vueuc|vooks|css-render|@css-render|date-fns|seemly|treemate|evtd|vdirs|@juggle)[\\/]/ },
            { name: 'vendor', test: /node_modules[\\/]/ },
          ],
        },
      },
    },
  },
  server: { proxy: apiProxy() },
  preview: { proxy: apiProxy() },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
