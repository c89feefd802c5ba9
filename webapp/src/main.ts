import { createApp } from 'vue'
import urql from '@urql/vue'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { createTowerClient } from './graphql/client'
import './style.css'

document.documentElement.lang = i18n.global.locale.value

createApp(App).use(i18n).use(router).use(urql, createTowerClient()).mount('#app')
