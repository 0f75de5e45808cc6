import { isPost, post, run } from './main.js'

void (isPost() ? post() : run())
