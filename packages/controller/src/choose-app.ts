import { PodError } from './errors.js';

/**
 * The app a command acts on: the one `--app` names, or the pod's only app. rkt's enter and export both
 * required `--app` for a pod of several apps; `command` words the hint.
 */
export function chooseApp(uuid: string, apps: readonly string[], asked: string | undefined, command: 'enter' | 'export' | 'attach'): string {
  if (asked !== undefined && asked !== '') {
    if (!apps.includes(asked)) throw new PodError('POD_APP', `app ${JSON.stringify(asked)} is not in pod ${uuid} (apps: ${apps.join(', ')})`, { subject: uuid });
    return asked;
  }
  if (apps.length === 1) return apps[0] as string;
  if (apps.length === 0) throw new PodError('POD_APP', `pod ${uuid} contains zero apps`, { subject: uuid });
  throw new PodError('POD_APP', `pod ${uuid} contains multiple apps (${apps.join(', ')}): unable to determine app name: specify app using "rkt ${command} --app= ..."`, {
    subject: uuid,
  });
}
