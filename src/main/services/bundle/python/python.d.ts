// The bundle's Python files are bundled as text (Vite's ?raw): the app writes them out as they are.
declare module '*.py?raw' {
  const text: string;
  export default text;
}
