// A WebGL scatter plot for the map: hundreds of thousands of points, pan (drag), zoom (wheel,
// about the cursor), a freeform lasso (Shift-drag, or the lasso tool) and hover.
//
// The points are drawn into a texture a few times the canvas (the layer); panning moves that
// texture, so a frame while panning is one quad however many points there are (on software WebGL
// 100,000 points took about 120 ms a frame here); a zoom, new colours, or a pan past the layer's
// edge draw the points again.
//
// Written here rather than taken from regl-scatterplot: regl compiles its draw calls with
// `new Function`, which the studio's Content-Security-Policy (script-src 'self', no
// 'unsafe-eval', held by the security tests) refuses. The drawing itself is small: one buffer of
// positions, one of colours, one draw call of points per frame
// (and one for the selection on top); the lasso and hover are answered on the CPU, from a grid
// over the points.

const VERTEX = `
attribute vec2 position;
attribute vec4 colour;
uniform vec2 centre;
uniform vec2 scale;
uniform float size;
varying vec4 tint;
void main() {
  gl_Position = vec4((position - centre) * scale, 0.0, 1.0);
  gl_PointSize = size;
  tint = colour;
}`;

const FRAGMENT = `
precision mediump float;
varying vec4 tint;
uniform float ring;
uniform float round;
void main() {
  vec2 c = gl_PointCoord - 0.5;
  float r = dot(c, c);
  if (round > 0.5 && r > 0.25) discard;
  gl_FragColor = ring > 0.5 && r > 0.1 ? vec4(0.05, 0.05, 0.08, 1.0) : tint;
}`;

/**
 * Above this many points they are drawn as opaque squares: software WebGL (SwiftShader, what a
 * machine without a GPU runs) draws them several times faster than blended discs, and at that
 * density a point is a few pixels anyway. regl-scatterplot's performanceMode does the same.
 */
const FAST_ABOVE = 50_000;

const QUAD_VERTEX = `
attribute vec2 corner;
uniform vec2 offset;
uniform vec2 extent;
varying vec2 uv;
void main() {
  gl_Position = vec4(offset + corner * extent, 0.0, 1.0);
  uv = corner * 0.5 + 0.5;
}`;

const QUAD_FRAGMENT = `
precision mediump float;
varying vec2 uv;
uniform sampler2D layer;
void main() {
  gl_FragColor = texture2D(layer, uv);
}`;

/** The point layer covers this many times the canvas, each way: room to pan before it is redrawn. */
const LAYER_MARGIN = 2;
/** A zoom shows the layer scaled until the wheel has rested this long, then draws it sharp. */
const ZOOM_SETTLE_MS = 150;

interface Layer {
  texture: WebGLTexture;
  framebuffer: WebGLFramebuffer;
  width: number;
  height: number;
  /** The view it was drawn for, and how many canvases it spans each way. */
  centre: number[];
  zoom: number;
  extent: [number, number];
}

const GRID = 128;
const HOVER_PX = 6;

export interface PlotEvents {
  onSelect(indices: number[]): void;
  onHover(index: number | null, x: number, y: number): void;
}

export class PointPlot {
  readonly #canvas: HTMLCanvasElement;
  readonly #overlay: HTMLCanvasElement;
  readonly #gl: WebGLRenderingContext;
  readonly #program: WebGLProgram;
  readonly #positions: WebGLBuffer;
  readonly #colours: WebGLBuffer;
  readonly #selected: WebGLBuffer;
  readonly #events: PlotEvents;
  #x: Float32Array = new Float32Array(0);
  #y: Float32Array = new Float32Array(0);
  #count = 0;
  #selection: number[] = [];
  /** Point indexes by grid cell (world [-1, 1]² in GRID x GRID cells). */
  #cells: Int32Array[] = [];
  #width = 1;
  #height = 1;
  #centre = [0, 0];
  #zoom = 1;
  #frame = 0;
  /** Frames drawn so far (the end-to-end test's frame rate while panning), and point layers drawn. */
  draws = 0;
  layerRenders = 0;
  #layer: Layer | null = null;
  #lastZoom = 0;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #quad: { program: WebGLProgram; corners: WebGLBuffer };
  #mode: 'pan' | 'lasso' = 'pan';
  #drag: { kind: 'pan' | 'lasso'; x: number; y: number; path: [number, number][] } | null = null;
  readonly #off: (() => void)[] = [];

  constructor(canvas: HTMLCanvasElement, overlay: HTMLCanvasElement, events: PlotEvents) {
    this.#canvas = canvas;
    this.#overlay = overlay;
    this.#events = events;
    const gl = canvas.getContext('webgl', { antialias: false, alpha: true, premultipliedAlpha: false });
    if (!gl) throw new Error('This browser cannot draw WebGL, which the map needs.');
    if (!gl.getExtension('OES_element_index_uint')) throw new Error('This browser’s WebGL lacks 32-bit indexes, which the map needs.');
    this.#gl = gl;
    this.#program = link(gl, VERTEX, FRAGMENT);
    this.#positions = gl.createBuffer()!;
    this.#colours = gl.createBuffer()!;
    this.#selected = gl.createBuffer()!;
    const corners = gl.createBuffer()!;
    gl.bindBuffer(gl.ARRAY_BUFFER, corners);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    this.#quad = { program: link(gl, QUAD_VERTEX, QUAD_FRAGMENT), corners };
    this.#listen();
  }

  get count(): number {
    return this.#count;
  }

  set mode(mode: 'pan' | 'lasso') {
    this.#mode = mode;
    this.#canvas.style.cursor = mode === 'lasso' ? 'crosshair' : 'grab';
  }

  /** Positions in [-1, 1]² (world); the view starts showing all of it. */
  setPoints(x: Float32Array, y: Float32Array): void {
    const gl = this.#gl;
    this.#x = x;
    this.#y = y;
    this.#count = x.length;
    const xy = new Float32Array(this.#count * 2);
    for (let i = 0; i < this.#count; i++) {
      xy[i * 2] = x[i];
      xy[i * 2 + 1] = y[i];
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.#positions);
    gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
    this.#index();
    this.#layer = this.#dropLayer();
    this.#selection = [];
    this.#uploadSelection();
    this.redraw();
  }

  /** Each point's colour: an index into `palette` (CSS hex colours), made RGBA per point here. */
  setColours(values: Float32Array, palette: string[]): void {
    const gl = this.#gl;
    const table = new Uint32Array(palette.length);
    const bytes = new Uint8Array(table.buffer);
    palette.forEach((hex, i) => {
      const n = parseInt(hex.slice(1, 7), 16);
      bytes.set([(n >> 16) & 255, (n >> 8) & 255, n & 255, 230], i * 4);
    });
    const rgba = new Uint32Array(values.length);
    for (let i = 0; i < values.length; i++) rgba[i] = table[values[i]] ?? 0;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.#colours);
    gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.DYNAMIC_DRAW);
    this.#layer = this.#dropLayer();
    this.redraw();
  }

  get selection(): number[] {
    return this.#selection;
  }

  select(indices: number[]): void {
    this.#selection = indices;
    this.#uploadSelection();
    this.redraw();
    this.#events.onSelect(indices);
  }

  /** The canvas's size in CSS pixels (it is drawn at the device's pixel ratio). */
  resize(width: number, height: number): void {
    const ratio = window.devicePixelRatio || 1;
    this.#width = Math.max(1, width);
    this.#height = Math.max(1, height);
    for (const c of [this.#canvas, this.#overlay]) {
      c.width = Math.round(this.#width * ratio);
      c.height = Math.round(this.#height * ratio);
    }
    this.#layer = this.#dropLayer();
    this.redraw();
  }

  /** Where point i is on the canvas, in CSS pixels from its top left. */
  screenPosition(i: number): [number, number] {
    return this.#toScreen(this.#x[i], this.#y[i]);
  }

  redraw(): void {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  /** Forgets the point layer (new points, colours or size): the next frame draws them again. */
  #dropLayer(): null {
    if (this.#layer) {
      this.#gl.deleteTexture(this.#layer.texture);
      this.#gl.deleteFramebuffer(this.#layer.framebuffer);
    }
    return null;
  }

  destroy(): void {
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#settleTimer);
    for (const off of this.#off.splice(0)) off();
    this.#gl.getExtension('WEBGL_lose_context')?.loseContext();
  }

  /** World to clip space: the square [-1, 1]² fits the shorter side. */
  #scale(): [number, number] {
    const aspect = this.#width / this.#height;
    return aspect > 1 ? [this.#zoom / aspect, this.#zoom] : [this.#zoom, this.#zoom * aspect];
  }

  #toScreen(wx: number, wy: number): [number, number] {
    const [sx, sy] = this.#scale();
    const cx = (wx - this.#centre[0]) * sx;
    const cy = (wy - this.#centre[1]) * sy;
    return [((cx + 1) / 2) * this.#width, ((1 - cy) / 2) * this.#height];
  }

  #toWorld(px: number, py: number): [number, number] {
    const [sx, sy] = this.#scale();
    return [((px / this.#width) * 2 - 1) / sx + this.#centre[0], (1 - (py / this.#height) * 2) / sy + this.#centre[1]];
  }

  #draw(): void {
    this.draws += 1;
    const gl = this.#gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, this.#canvas.width, this.#canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (this.#count === 0) return;
    const settling = performance.now() - this.#lastZoom < ZOOM_SETTLE_MS;
    let layer = this.#layer;
    const [sx, sy] = this.#scale();
    const fresh =
      layer !== null &&
      layer.zoom === this.#zoom &&
      Math.abs((layer.centre[0] - this.#centre[0]) * sx) <= layer.extent[0] - 1 &&
      Math.abs((layer.centre[1] - this.#centre[1]) * sy) <= layer.extent[1] - 1;
    if (!fresh && !(layer && settling)) layer = this.#renderLayer();
    else if (!fresh) {
      // Zooming: the last layer scaled until the wheel rests, then drawn sharp again.
      clearTimeout(this.#settleTimer);
      this.#settleTimer = setTimeout(() => this.redraw(), ZOOM_SETTLE_MS);
    }
    this.#drawLayer(layer!);
    if (this.#selection.length > 0) {
      // The selection on top, larger, ringed: drawn each frame (it is what one works on).
      this.#usePoints(this.#centre, [sx, sy]);
      const ratio = window.devicePixelRatio || 1;
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
      gl.uniform1f(gl.getUniformLocation(this.#program, 'size'), this.#pointSize() + 4 * ratio);
      gl.uniform1f(gl.getUniformLocation(this.#program, 'ring'), 1);
      gl.uniform1f(gl.getUniformLocation(this.#program, 'round'), 1);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.#selected);
      gl.drawElements(gl.POINTS, this.#selection.length, gl.UNSIGNED_INT, 0);
    }
  }

  /** Points grow a little as one zooms in, up to a limit (device pixels). */
  #pointSize(): number {
    return Math.min(12, 3 + Math.log2(Math.max(1, this.#zoom))) * (window.devicePixelRatio || 1);
  }

  /** The point program with its buffers bound, for a view of `centre` at `scale`. */
  #usePoints(centre: number[], scale: [number, number]): void {
    const gl = this.#gl;
    const p = this.#program;
    gl.useProgram(p);
    gl.uniform2f(gl.getUniformLocation(p, 'centre'), centre[0], centre[1]);
    gl.uniform2f(gl.getUniformLocation(p, 'scale'), scale[0], scale[1]);
    const position = gl.getAttribLocation(p, 'position');
    gl.bindBuffer(gl.ARRAY_BUFFER, this.#positions);
    gl.enableVertexAttribArray(position);
    gl.vertexAttribPointer(position, 2, gl.FLOAT, false, 0, 0);
    const colour = gl.getAttribLocation(p, 'colour');
    gl.bindBuffer(gl.ARRAY_BUFFER, this.#colours);
    gl.enableVertexAttribArray(colour);
    gl.vertexAttribPointer(colour, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  }

  /**
   * Draws every point into the layer: a texture LAYER_MARGIN times the canvas each way around
   * the current view. Panning then moves the texture (one quad a frame) until the view nears its
   * edge; only a zoom, new colours or a pan past the margin draw the points again.
   */
  #renderLayer(): Layer {
    const gl = this.#gl;
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    const width = Math.min(max, this.#canvas.width * LAYER_MARGIN);
    const height = Math.min(max, this.#canvas.height * LAYER_MARGIN);
    let layer = this.#layer;
    if (!layer || layer.width !== width || layer.height !== height) {
      if (layer) {
        gl.deleteTexture(layer.texture);
        gl.deleteFramebuffer(layer.framebuffer);
      }
      const texture = gl.createTexture()!;
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      const framebuffer = gl.createFramebuffer()!;
      gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
      layer = { texture, framebuffer, width, height, centre: [0, 0], zoom: 0, extent: [LAYER_MARGIN, LAYER_MARGIN] };
    }
    // The texture's share of the canvas each way (less than the margin where the size was capped).
    const extent: [number, number] = [width / this.#canvas.width, height / this.#canvas.height];
    const [sx, sy] = this.#scale();
    layer.centre = [...this.#centre];
    layer.zoom = this.#zoom;
    layer.extent = extent;
    gl.bindFramebuffer(gl.FRAMEBUFFER, layer.framebuffer);
    gl.viewport(0, 0, width, height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    const fast = this.#count > FAST_ABOVE;
    if (fast) gl.disable(gl.BLEND);
    else {
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    }
    this.#usePoints(this.#centre, [sx / extent[0], sy / extent[1]]);
    gl.uniform1f(gl.getUniformLocation(this.#program, 'size'), this.#pointSize());
    gl.uniform1f(gl.getUniformLocation(this.#program, 'ring'), 0);
    gl.uniform1f(gl.getUniformLocation(this.#program, 'round'), fast ? 0 : 1);
    gl.drawArrays(gl.POINTS, 0, this.#count);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, this.#canvas.width, this.#canvas.height);
    this.#layer = layer;
    this.layerRenders += 1;
    return layer;
  }

  /** The layer on the canvas as the current view sees it (moved, and scaled while a zoom settles). */
  #drawLayer(layer: Layer): void {
    const gl = this.#gl;
    const [sx, sy] = this.#scale();
    const grow = this.#zoom / layer.zoom;
    const offset = [(layer.centre[0] - this.#centre[0]) * sx, (layer.centre[1] - this.#centre[1]) * sy];
    const q = this.#quad;
    gl.useProgram(q.program);
    gl.disable(gl.BLEND);
    gl.bindBuffer(gl.ARRAY_BUFFER, q.corners);
    const corner = gl.getAttribLocation(q.program, 'corner');
    gl.enableVertexAttribArray(corner);
    gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);
    gl.uniform2f(gl.getUniformLocation(q.program, 'offset'), offset[0], offset[1]);
    gl.uniform2f(gl.getUniformLocation(q.program, 'extent'), layer.extent[0] * grow, layer.extent[1] * grow);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, layer.texture);
    const filter = grow === 1 ? gl.NEAREST : gl.LINEAR;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    gl.uniform1i(gl.getUniformLocation(q.program, 'layer'), 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.disableVertexAttribArray(corner);
  }

  #uploadSelection(): void {
    const gl = this.#gl;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.#selected);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, Uint32Array.from(this.#selection), gl.DYNAMIC_DRAW);
  }

  #cellOf(v: number): number {
    return Math.max(0, Math.min(GRID - 1, Math.floor(((v + 1) / 2) * GRID)));
  }

  #index(): void {
    const counts = new Int32Array(GRID * GRID);
    const cell = new Int32Array(this.#count);
    for (let i = 0; i < this.#count; i++) {
      cell[i] = this.#cellOf(this.#y[i]) * GRID + this.#cellOf(this.#x[i]);
      counts[cell[i]] += 1;
    }
    this.#cells = Array.from(counts, (n) => new Int32Array(n));
    const fill = new Int32Array(GRID * GRID);
    for (let i = 0; i < this.#count; i++) this.#cells[cell[i]][fill[cell[i]]++] = i;
  }

  /** The point nearest to a canvas position, within a few pixels. */
  #pointAt(px: number, py: number): number | null {
    const [wx, wy] = this.#toWorld(px, py);
    const [wx2] = this.#toWorld(px + HOVER_PX, py);
    const radius = Math.abs(wx2 - wx);
    let best = radius * radius;
    let found: number | null = null;
    for (let cy = this.#cellOf(wy - radius); cy <= this.#cellOf(wy + radius); cy++) {
      for (let cx = this.#cellOf(wx - radius); cx <= this.#cellOf(wx + radius); cx++) {
        for (const i of this.#cells[cy * GRID + cx] ?? []) {
          const d = (this.#x[i] - wx) ** 2 + (this.#y[i] - wy) ** 2;
          if (d <= best) {
            best = d;
            found = i;
          }
        }
      }
    }
    return found;
  }

  /** Points whose screen position lies inside the polygon (canvas CSS pixels). */
  #inside(path: [number, number][]): number[] {
    if (path.length < 3) return [];
    const world = path.map(([x, y]) => this.#toWorld(x, y));
    const xs = world.map((p) => p[0]);
    const ys = world.map((p) => p[1]);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const out: number[] = [];
    for (let cy = this.#cellOf(minY); cy <= this.#cellOf(maxY); cy++) {
      for (let cx = this.#cellOf(minX); cx <= this.#cellOf(maxX); cx++) {
        for (const i of this.#cells[cy * GRID + cx] ?? []) {
          const x = this.#x[i];
          const y = this.#y[i];
          if (x < minX || x > maxX || y < minY || y > maxY) continue;
          let within = false;
          for (let a = 0, b = world.length - 1; a < world.length; b = a++) {
            const [ax, ay] = world[a];
            const [bx, by] = world[b];
            if (ay > y !== by > y && x < ((bx - ax) * (y - ay)) / (by - ay) + ax) within = !within;
          }
          if (within) out.push(i);
        }
      }
    }
    return out.sort((a, b) => a - b);
  }

  #drawLasso(path: [number, number][] | null): void {
    const ctx = this.#overlay.getContext('2d')!;
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, this.#width, this.#height);
    if (!path || path.length < 2) return;
    ctx.beginPath();
    ctx.moveTo(path[0][0], path[0][1]);
    for (const [x, y] of path.slice(1)) ctx.lineTo(x, y);
    ctx.closePath();
    ctx.fillStyle = 'rgba(51, 140, 255, 0.12)';
    ctx.strokeStyle = 'rgb(51, 140, 255)';
    ctx.lineWidth = 1.5;
    ctx.fill();
    ctx.stroke();
  }

  #listen(): void {
    const canvas = this.#canvas;
    const local = (e: PointerEvent | WheelEvent): [number, number] => {
      const r = canvas.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    const down = (e: PointerEvent) => {
      if (e.button !== 0) return;
      const [x, y] = local(e);
      canvas.setPointerCapture(e.pointerId);
      const kind = e.shiftKey || this.#mode === 'lasso' ? 'lasso' : 'pan';
      this.#drag = { kind, x, y, path: [[x, y]] };
      this.#events.onHover(null, x, y);
    };
    const move = (e: PointerEvent) => {
      const [x, y] = local(e);
      const drag = this.#drag;
      if (!drag) {
        this.#events.onHover(this.#pointAt(x, y), x, y);
        return;
      }
      if (drag.kind === 'pan') {
        const [sx, sy] = this.#scale();
        this.#centre[0] -= ((x - drag.x) / this.#width) * 2 / sx;
        this.#centre[1] += ((y - drag.y) / this.#height) * 2 / sy;
        drag.x = x;
        drag.y = y;
        this.redraw();
      } else {
        drag.path.push([x, y]);
        this.#drawLasso(drag.path);
      }
    };
    const up = (e: PointerEvent) => {
      const drag = this.#drag;
      this.#drag = null;
      if (!drag) return;
      const [x, y] = local(e);
      if (drag.kind === 'lasso') {
        this.#drawLasso(null);
        if (drag.path.length >= 3) this.select(this.#inside(drag.path));
      } else if (Math.abs(x - drag.path[0][0]) + Math.abs(y - drag.path[0][1]) < 3) {
        // A click: the point under it, or nothing.
        const hit = this.#pointAt(x, y);
        this.select(hit === null ? [] : [hit]);
      }
    };
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      const [x, y] = local(e);
      const before = this.#toWorld(x, y);
      this.#zoom = Math.max(0.5, Math.min(2000, this.#zoom * Math.exp(-e.deltaY * 0.0015)));
      this.#lastZoom = performance.now();
      const after = this.#toWorld(x, y);
      this.#centre[0] += before[0] - after[0];
      this.#centre[1] += before[1] - after[1];
      this.redraw();
    };
    const leave = () => {
      if (!this.#drag) this.#events.onHover(null, 0, 0);
    };
    canvas.addEventListener('pointerdown', down);
    canvas.addEventListener('pointermove', move);
    canvas.addEventListener('pointerup', up);
    canvas.addEventListener('pointercancel', up);
    canvas.addEventListener('pointerleave', leave);
    canvas.addEventListener('wheel', wheel, { passive: false });
    this.#off.push(() => {
      canvas.removeEventListener('pointerdown', down);
      canvas.removeEventListener('pointermove', move);
      canvas.removeEventListener('pointerup', up);
      canvas.removeEventListener('pointercancel', up);
      canvas.removeEventListener('pointerleave', leave);
      canvas.removeEventListener('wheel', wheel);
    });
    this.mode = 'pan';
  }
}

function link(gl: WebGLRenderingContext, vertex: string, fragment: string): WebGLProgram {
  const compile = (type: number, source: string) => {
    const shader = gl.createShader(type)!;
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`Map shader: ${gl.getShaderInfoLog(shader)}`);
    return shader;
  };
  const program = gl.createProgram()!;
  gl.attachShader(program, compile(gl.VERTEX_SHADER, vertex));
  gl.attachShader(program, compile(gl.FRAGMENT_SHADER, fragment));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`Map shader: ${gl.getProgramInfoLog(program)}`);
  return program;
}
