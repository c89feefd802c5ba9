import { createApp } from 'vue'
import urql from '@urql/vue'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { createTowerClient } from './graphql/client'
import { onSessionChange } from './auth/session'
import { setDisplayZone } from './lib/format'
import './style.css'

document.documentElement.lang = i18n.global.locale.value
// Every time on screen is in the caller's zone.
onSessionChange((m) => setDisplayZone(m?.timeZone))

createApp(App).use(i18n).use(router).use(urql, createTowerClient()).mount('#app')
