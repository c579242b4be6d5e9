// Light or dark: by default the system's preference (followed live by CSS, through
// color-scheme and light-dark() in styles.css), or a theme the user pinned with the switch.
// The choice is this browser's (localStorage), like the thumbnail size.

export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'loupe.theme';

function stored(): ThemeChoice {
  const value = localStorage.getItem(KEY);
  return value === 'light' || value === 'dark' ? value : 'system';
}

class Theme {
  choice = $state<ThemeChoice>(stored());

  constructor() {
    this.#apply();
  }

  set(choice: ThemeChoice): void {
    this.choice = choice;
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
    this.#apply();
  }

  #apply(): void {
    const root = document.documentElement;
    if (this.choice === 'system') delete root.dataset.theme;
    else root.dataset.theme = this.choice;
  }
}

export const theme = new Theme();
